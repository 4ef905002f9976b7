// TypeScript peer of examples/hello-worker for bench/side-by-side: the official
// `@temporalio/lambda-worker` 1.23 `runWorker`, unmodified, under the official runtime interface
// client `aws-lambda-ric` 3.3 (`bootstrap` runs `aws-lambda-ric handler.handler`). The deployment
// version comes from HELLO_DEPLOYMENT_NAME / HELLO_BUILD_ID (as in the Rust sample), the task
// queue from TEMPORAL_TASK_QUEUE, the server from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE.
'use strict';
const path = require('path');
const { runWorker } = require('@temporalio/lambda-worker');
const { activities } = require('./activities');

exports.handler = runWorker(
  {
    deploymentName: process.env.HELLO_DEPLOYMENT_NAME || 'hello-app-typescript',
    buildId: process.env.HELLO_BUILD_ID || 'build-1',
  },
  (config) => {
    config.workerOptions.taskQueue = config.workerOptions.taskQueue || 'hello-lambda';
    config.workerOptions.workflowBundle = { codePath: path.join(__dirname, 'workflow-bundle.js') };
    config.workerOptions.activities = activities;
  },
);
