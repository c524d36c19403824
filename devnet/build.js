// Compile devnet/contracts/*.sol with the pinned solc (package.json) into devnet/artifacts/*.json.
// Output per contract: {contractName, sourceName, compiler, abi, bytecode}. Deterministic: no metadata hash.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = __dirname;
const srcDir = path.join(root, "contracts");
const outDir = path.join(root, "artifacts");
const sources = {};
for (const file of fs.readdirSync(srcDir).sort()) {
  if (file.endsWith(".sol")) sources[file] = { content: fs.readFileSync(path.join(srcDir, file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    viaIR: true,
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: (p) => ({ contents: fs.readFileSync(path.join(srcDir, path.basename(p)), "utf8") }) }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
fs.mkdirSync(outDir, { recursive: true });
for (const [sourceName, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object || c.abi.length === 0) continue; // internal libraries, interfaces
    const artifact = { contractName: name, sourceName, compiler: solc.version(), abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
    console.log(`wrote artifacts/${name}.json`);
  }
}
