// Workflow of the TypeScript peer (pre-bundled by bundle.js): `HelloWorkflow(name)` calls the
// activity `Greetings::greet(name)` and returns its result, like examples/hello-worker.
'use strict';
const { proxyActivities } = require('@temporalio/workflow');

const acts = proxyActivities({ startToCloseTimeout: '10 seconds' });

async function HelloWorkflow(name) {
  return await acts['Greetings::greet'](name);
}

exports.HelloWorkflow = HelloWorkflow;
