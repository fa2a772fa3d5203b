/**
 * What the server holds in memory and every component reads: the policy in force and the
 * approvals (甲許可) not deleted. The store is the truth; this is its cache, updated by the API.
 */
import type { Policy } from "../policies/policy.js";
import type { Approval } from "../policies/schema.js";

export interface PolicyInForce {
  version: number;
  policy: Policy;
  text: string;
}

export class ServerState {
  approvals: Approval[] = [];
  /** the organisation of an agent (server/people/); approvals restricted to an organisation need it */
  agentOrganisation: (agentId: string) => string | undefined = () => undefined;

  constructor(public policy: PolicyInForce, private readonly heartbeatOverride?: number) {}

  /** opts.heartbeatSeconds when given, else the policy's */
  heartbeatSeconds(): number {
    return this.heartbeatOverride ?? this.policy.policy.heartbeatSeconds;
  }
}
