'use strict';
// Classic community-node entry: re-export the built node and credential classes.
module.exports = {
  ...require('./dist/nodes/Backup/Backup.node.js'),
  ...require('./dist/credentials/BackupEncryptionApi.credentials.js'),
};
