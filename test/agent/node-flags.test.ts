import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_NODE_FLAGS, agentNodeOptions } from "../../lib/node-flags.js";
import { root } from "../helpers/kyoka.js";

describe("the agent's node flags", () => {
  it("are added to NODE_OPTIONS once, after the caller's own", () => {
    expect(agentNodeOptions("")).toBe(AGENT_NODE_FLAGS.join(" "));
    expect(agentNodeOptions("--enable-source-maps")).toBe(["--enable-source-maps", ...AGENT_NODE_FLAGS].join(" "));
    // a value the caller chose wins
    expect(agentNodeOptions("--max-semi-space-size=4")).toBe("--max-semi-space-size=4 --v8-pool-size=1");
  });

  it("are accepted in NODE_OPTIONS and shrink V8's young generation to 1 MiB semi-spaces", () => {
    const newSpace = (nodeOptions: string) => Number(execFileSync(process.execPath, ["-e",
      "let k=[];for(let i=0;i<3e5;i++){k.push({i});if(k.length>5e4)k=[]}" +
      "console.log(require('v8').getHeapSpaceStatistics().find((s)=>s.space_name==='new_space').space_size)"],
    { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: "utf8" }).trim());
    expect(newSpace(agentNodeOptions(""))).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(newSpace("")).toBeGreaterThan(2 * 1024 * 1024);
  });

  it("are what the installed services start the agent with: the systemd unit, the MSI's service, the PowerShell install", () => {
    const want = `NODE_OPTIONS=${AGENT_NODE_FLAGS.join(" ")}`;
    const read = (f: string) => readFileSync(join(root, f), "utf8");
    expect(read("installers/linux/kyoka-agent.service")).toMatch(new RegExp(`^Environment="${want}"$`, "m"));
    // REG_MULTI_SZ "Environment" of the service key (the MSI test reads it back from the registry)
    expect(read("installers/windows/kyoka.wxs")).toContain(`<RegistryValue Name="Environment" Type="multistring" Value="[~]${want}[~]" />`);
    expect(read("installers/windows/install-kyoka.ps1")).toContain(`-Name Environment -PropertyType MultiString`);
    expect(read("installers/windows/install-kyoka.ps1")).toContain(`-Value @("${want}")`);
  });
});
