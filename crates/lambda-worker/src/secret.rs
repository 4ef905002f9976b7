//! The secret-value type the worker's configuration holds: the toolkit's one [`Secret`]
//! (`Debug` and `Display` print `<redacted>`).

pub use temporal_lambda_env::Secret;
