// A SCIM 2.0 server for the tests: SCIMMY (an implementation independent of scim2-server) on
// Express, objects in memory, one store per tenant (the first path segment), a bearer token.
//   node server.mjs PORT TOKEN      -> prints "listening on http://127.0.0.1:PORT" once ready
import {randomUUID} from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const [port, token] = process.argv.slice(2);
const tenants = new Map();

function store(tenant, kind) {
    if (!tenants.has(tenant)) tenants.set(tenant, {User: new Map(), Group: new Map()});
    return tenants.get(tenant)[kind];
}

function plain(instance) {
    return JSON.parse(JSON.stringify(instance));
}

function handlers(kind, unique) {
    return {
        ingress: (resource, instance, ctx) => {
            const held = store(ctx.tenant, kind);
            const data = plain(instance);
            const clash = [...held.values()].find((o) => unique && o[unique] !== undefined
                && String(o[unique]).toLowerCase() === String(data[unique]).toLowerCase() && o.id !== resource.id);
            if (clash) throw new SCIMMY.Types.Error(409, "uniqueness", `${unique} is already in use`);
            const now = new Date().toISOString();
            if (resource.id) {
                const old = held.get(resource.id);
                if (!old) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                const updated = {...data, id: resource.id, meta: {...old.meta, lastModified: now}};
                held.set(resource.id, updated);
                return updated;
            }
            const made = {...data, id: randomUUID(), meta: {created: now, lastModified: now}};
            held.set(made.id, made);
            return made;
        },
        egress: (resource, ctx) => {
            const held = store(ctx.tenant, kind);
            if (resource.id) {
                const one = held.get(resource.id);
                if (!one) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                return one;
            }
            const all = [...held.values()];
            return resource.filter ? resource.filter.match(all) : all;
        },
        degress: (resource, ctx) => {
            if (!store(ctx.tenant, kind).delete(resource.id)) {
                throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            }
        },
    };
}

for (const [resource, kind, unique] of [[SCIMMY.Resources.User, "User", "userName"],
                                        [SCIMMY.Resources.Group, "Group", null]]) {
    const h = handlers(kind, unique);
    SCIMMY.Resources.declare(resource).ingress(h.ingress).egress(h.egress).degress(h.degress);
}
SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false);

const app = express();
const scim = new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.invalid/scim-auth",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization failure");
        return "smartsync-agent";
    },
    context: (request) => ({tenant: request.tenant}),
});
app.use("/:tenant", (request, _response, next) => { request.tenant = request.params.tenant; next(); }, scim);
const server = app.listen(Number(port), "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
