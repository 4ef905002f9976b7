//! Unit tests of every check.
