/** The OpenAPI 3.1 description of the HTTP API, served at /v1/openapi.json. */

const error = { $ref: "#/components/responses/Error" };
const id = { name: "id", in: "path", required: true, schema: { type: "string" } };
const errors = { "400": error, "401": error, "403": error, "404": error };

export const openApiDocument = {
  openapi: "3.1.0",
  info: { title: "medvault", version: "1", description: "Encrypted medical file vault: age envelopes, IPFS storage, on-chain anchoring." },
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    responses: {
      Error: {
        description: "An error with a stable code",
        content: {
          "application/json": {
            schema: {
              type: "object",
              properties: {
                error: {
                  type: "object",
                  properties: { code: { type: "string" }, message: { type: "string" } },
                  required: ["code", "message"],
                },
              },
            },
          },
        },
      },
    },
    schemas: {
      File: {
        type: "object",
        properties: {
          id: { type: "string" },
          name: { type: ["string", "null"] },
          size: { type: "integer" },
          sha256: { type: ["string", "null"] },
          cid: { type: "string" },
          mediaType: { type: "string" },
          state: { enum: ["active", "erased"] },
          createdAt: { type: "string", format: "date-time" },
          expiresAt: { type: ["string", "null"] },
          erasedAt: { type: ["string", "null"] },
          anchor: {
            type: "object",
            properties: {
              status: { enum: ["pending", "anchored", "final"] },
              batchId: { type: "integer" },
              blockNumber: { type: "integer" },
              txHash: { type: "string" },
            },
          },
          grants: { type: "array", items: { type: "object" } },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    "/v1/principals": {
      post: {
        summary: "Create a principal and its token (admin)",
        responses: { "201": { description: "Created; the token is shown once" }, ...errors, "409": error },
      },
    },
    "/v1/files": {
      post: {
        summary: "Upload a file (uploader); multipart: recipients, expiresAt, then file",
        requestBody: {
          content: {
            "multipart/form-data": {
              schema: {
                type: "object",
                properties: {
                  recipients: { type: "array", items: { type: "string" } },
                  expiresAt: { type: "string" },
                  file: { type: "string", format: "binary" },
                },
                required: ["file", "recipients"],
              },
            },
          },
        },
        responses: {
          "201": {
            description: "Stored, pinned and committed",
            content: { "application/json": { schema: { $ref: "#/components/schemas/File" } } },
          },
          ...errors,
          "413": error,
        },
      },
      get: { summary: "Files the caller may see", responses: { "200": { description: "{files: File[]}" }, ...errors } },
    },
    "/v1/files/{id}": { get: { parameters: [id], summary: "A file's metadata", responses: { "200": { description: "File" }, ...errors } } },
    "/v1/files/{id}/content": {
      get: {
        parameters: [id],
        summary: "Verified plaintext (recipient with a grant in force); aborts mid-stream on a verification failure",
        responses: { "200": { description: "The plaintext, with Repr-Digest" }, ...errors, "410": error, "500": error },
      },
    },
    "/v1/files/{id}/age": {
      get: {
        parameters: [id],
        summary: "The caller's age file: its own header, then the payload",
        responses: { "200": { description: "An age v1 file" }, ...errors, "410": error },
      },
    },
    "/v1/files/{id}/receipt": {
      get: {
        parameters: [id],
        summary: "The anchoring receipt (medvault.receipt/v1)",
        responses: { "200": { description: "Receipt" }, ...errors, "409": error, "410": error },
      },
    },
    "/v1/files/{id}/grants": {
      post: {
        parameters: [id],
        summary: "Grant a recipient (owner)",
        responses: { "201": { description: "File" }, ...errors, "410": error },
      },
    },
    "/v1/files/{id}/grants/{recipient}": {
      delete: {
        parameters: [id, { name: "recipient", in: "path", required: true, schema: { type: "string" } }],
        summary: "Revoke a grant (owner)",
        responses: { "200": { description: "File" }, ...errors },
      },
    },
    "/v1/files/{id}/erasure": {
      post: {
        parameters: [id],
        summary: "Crypto-shred a file (privacy)",
        responses: { "200": { description: "Erasure certificate" }, ...errors, "410": error },
      },
    },
    "/v1/audit": {
      get: {
        summary: "The audit trail (privacy, admin); filters file, actor, action, after, limit",
        responses: { "200": { description: "{events}" }, ...errors },
      },
    },
    "/v1/chain": {
      get: {
        summary: "Chain id, contract, and the RPC of the embedded chain",
        security: [],
        responses: { "200": { description: "Chain info" } },
      },
    },
    "/healthz": { get: { security: [], responses: { "200": { description: "Alive" } } } },
    "/readyz": { get: { security: [], responses: { "200": { description: "Ready" } } } },
    "/metrics": { get: { security: [], responses: { "200": { description: "Prometheus text" } } } },
  },
} as const;
