// Copies node icons and codex files next to the compiled node (the classic `gulp build:icons`).
const { src, dest, task } = require('gulp');

function copyAssets() {
  return src(['nodes/**/*.{png,svg,json}', 'credentials/**/*.{png,svg}'], { base: '.', encoding: false }).pipe(dest('dist'));
}

task('build:icons', copyAssets);
