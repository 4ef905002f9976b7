// Activity of the TypeScript peer: same as the Rust sample's `Greetings::greet`.
'use strict';
exports.activities = {
  'Greetings::greet': async (name) => `Hello, ${name}!`,
};
