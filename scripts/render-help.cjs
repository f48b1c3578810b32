// Build step: commander renders the top-level help once, so the launcher can
// print it without loading commander (docs/architecture.md#start-up). Every line
// is kept under 80 columns, so commander would print the same text on any
// terminal at least 80 wide; test/cli.test.ts checks both facts.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { buildProgram } = require('../dist/cli.js');

// configureHelp() with settings replaces the program's own: they are kept, the width added.
const at = (width) => {
  const program = buildProgram(false);
  return program.configureHelp({ ...program.configureHelp(), helpWidth: width }).helpInformation();
};
const text = at(80);
// Same text at 80 and 250 columns: nothing wraps, so the cached text is what
// commander would print on any terminal at least 80 columns wide.
if (text !== at(250)) {
  process.stderr.write('render-help: the top-level help wraps at 80 columns; shorten the descriptions in src/cli.ts\n');
  process.exit(1);
}
fs.writeFileSync(path.join(__dirname, '..', 'dist', 'root-help.txt'), text);
