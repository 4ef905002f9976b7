// Pre-bundles workflows.js into workflow-bundle.js (what the package README recommends, so the
// Lambda cold start does not run webpack). Run once by bench/side-by-side.sh.
'use strict';
const { bundleWorkflowCode } = require('@temporalio/worker');
const { writeFileSync } = require('fs');
const path = require('path');

bundleWorkflowCode({ workflowsPath: require.resolve('./workflows.js') }).then(({ code }) => {
  writeFileSync(path.join(__dirname, 'workflow-bundle.js'), code);
});
