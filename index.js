'use strict';
// Classic community-node entry: re-export the built node (and, when they exist, credential) classes.
module.exports = {
  ...require('./dist/nodes/Backup/Backup.node.js'),
};
