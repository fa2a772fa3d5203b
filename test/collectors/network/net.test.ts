import { describe, expect, it } from "vitest";
import { canonicalIp, cidrContains, cidrCovers, formatCidr, networkOf, parseCidr, parseIp } from "../../../lib/net/ip.js";
import { macEquals, normalizeMac } from "../../../lib/net/mac.js";

describe("lib/net ip", () => {
  it("parses IPv4 and IPv6, folds IPv4-mapped to IPv4", () => {
    expect(parseIp("10.1.2.3")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp("::1")).toEqual({ family: 6, value: 1n });
    expect(parseIp("::ffff:10.1.2.3")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp("::ffff:a01:203")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp("fe80::1%eth0")?.family).toBe(6);
    expect(parseIp("300.1.1.1")).toBeUndefined();
    expect(parseIp("nonsense")).toBeUndefined();
    expect(canonicalIp("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("::ffff:192.0.2.9")).toBe("192.0.2.9");
  });

  it("parses CIDRs and clears host bits", () => {
    expect(formatCidr(parseCidr("10.1.2.3/8")!)).toBe("10.0.0.0/8");
    expect(formatCidr(parseCidr("2001:db8::1/32")!)).toBe("2001:db8::/32");
    expect(formatCidr(parseCidr("10.1.2.3")!)).toBe("10.1.2.3/32");
    expect(formatCidr(parseCidr("::ffff:10.0.0.0/104")!)).toBe("10.0.0.0/8");
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("::ffff:10.0.0.0/64")).toBeUndefined();
    expect(parseCidr("x/8")).toBeUndefined();
  });

  it("contains across IPv4-mapped IPv6, never across families", () => {
    expect(cidrContains("10.0.0.0/8", "10.200.1.1")).toBe(true);
    expect(cidrContains("10.0.0.0/8", "11.0.0.1")).toBe(false);
    expect(cidrContains("10.0.0.0/8", "::ffff:10.9.9.9")).toBe(true);
    expect(cidrContains("::ffff:10.0.0.0/104", "10.9.9.9")).toBe(true);
    expect(cidrContains("2001:db8::/32", "2001:db8:ffff::1")).toBe(true);
    expect(cidrContains("2001:db8::/32", "2001:db9::1")).toBe(false);
    expect(cidrContains("0.0.0.0/0", "::1")).toBe(false);
    expect(cidrContains("::/0", "2001:db8::1")).toBe(true);
    expect(cidrContains("bad", "10.0.0.1")).toBe(false);
    expect(cidrCovers("10.0.0.0/8", "10.1.0.0/16")).toBe(true);
    expect(cidrCovers("10.1.0.0/16", "10.0.0.0/8")).toBe(false);
  });

  it("computes the network of an interface address", () => {
    expect(networkOf("192.168.10.23", 24)).toBe("192.168.10.0/24");
    expect(networkOf("2001:db8:10::23", 64)).toBe("2001:db8:10::/64");
    expect(networkOf("10.0.0.1", 40)).toBeUndefined();
  });
});

describe("lib/net mac", () => {
  it("normalises the usual spellings", () => {
    expect(normalizeMac("AA-BB-CC-DD-EE-FF")).toBe("aa:bb:cc:dd:ee:ff");
    expect(normalizeMac("0:1c:e:ec:5c:0")).toBe("00:1c:0e:ec:5c:00");
    expect(normalizeMac("aabb.ccdd.eeff")).toBe("aa:bb:cc:dd:ee:ff");
    expect(normalizeMac("AABBCCDDEEFF")).toBe("aa:bb:cc:dd:ee:ff");
    expect(normalizeMac("not a mac")).toBeUndefined();
    expect(macEquals("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff")).toBe(true);
    expect(macEquals(undefined, undefined)).toBe(false);
  });
});
