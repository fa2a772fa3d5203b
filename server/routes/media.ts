/** The media ledger (媒体台帳): registered removable media, server/media-ledger.ts. */
import { z } from "zod";
import { NotFoundError } from "../errors.js";
import type { RouteFile } from "../http.js";
import { MediaRecordInput } from "../media-ledger.js";

const MediaRecordView = z.object({
  id: z.string(),
  serial: z.string(),
  vendorId: z.string().nullable(),
  productId: z.string().nullable(),
  label: z.string().nullable(),
  owner: z.string(),
  note: z.string().nullable(),
  registeredAt: z.string(),
});

export const mediaRoutes: RouteFile = async (app, { media }) => {
  if (!media) return;
  app.get("/api/media", {
    config: { action: "media.read" },
    schema: { summary: "the media ledger (媒体台帳), oldest first", response: { 200: z.array(MediaRecordView) } },
  }, async () => media.list());

  app.post("/api/media", {
    config: { action: "media.write" },
    schema: {
      summary: "register a medium {serial, vendorId?, productId?, label?, owner, note?} (409 when the serial is registered)",
      body: MediaRecordInput,
      response: { 201: MediaRecordView },
    },
  }, async (req, reply) => reply.code(201).send(await media.register(req.body)));

  app.delete("/api/media/:id", {
    config: { action: "media.write" },
    schema: { summary: "remove a medium from the ledger", params: z.object({ id: z.string().min(1).max(200) }), response: { 204: z.null().describe("no content") } },
  }, async (req, reply) => {
    if (!(await media.remove(req.params.id))) throw new NotFoundError(`no registered medium ${req.params.id}`);
    return reply.code(204).send(null);
  });
};
