"""`helm test`: a document ingested for one user cannot be found by a user outside its ACL."""

import json
import os
import secrets
import sys
import time

import httpx

API = os.environ["SILLOK_API"]
SECRETS = os.environ.get("SILLOK_SECRETS_DIR", "/run/secrets/sillok")
with open(os.path.join(SECRETS, "bootstrap_admin_token")) as secret:
    TOKEN = secret.read().strip()
tag = secrets.token_hex(4)
marker = f"HELM-TEST-{tag}"
admin = httpx.Client(base_url=API, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def key_of(user: str) -> str:
    """Create `user` and return a new API key of theirs."""
    admin.post("/api/v1/users", json={"username": user, "groups": []}).raise_for_status()
    return admin.post(f"/api/v1/users/{user}/api-keys").raise_for_status().json()["key"]


owner, outsider = f"helm-owner-{tag}", f"helm-outsider-{tag}"
as_owner = httpx.Client(base_url=API, headers={"Authorization": f"Bearer {key_of(owner)}"}, timeout=30)
as_outsider = httpx.Client(base_url=API, headers={"Authorization": f"Bearer {key_of(outsider)}"}, timeout=30)
text = f"The {marker} deployment check: the quarterly access review is held in room 401."
reply = as_owner.post(
    "/api/v1/documents",
    files={"file": ("helm-test.txt", text.encode(), "text/plain")},
    data={"acl": json.dumps({"users": [owner]})},
)
reply.raise_for_status()
document = reply.json()["id"]
deadline = time.monotonic() + 300
while (status := as_owner.get(f"/api/v1/documents/{document}").json()["status"]) not in ("indexed", "failed"):
    if time.monotonic() > deadline:
        sys.exit(f"document still {status} after 300 s")
    time.sleep(2)
found = as_owner.post("/api/v1/search", json={"query": f"{marker} access review", "top_k": 5}).json()
hidden = as_outsider.post("/api/v1/search", json={"query": f"{marker} access review", "top_k": 5}).json()
checks = {
    "indexed": status == "indexed",
    "owner finds it": any(r["document_id"] == document for r in found["results"]),
    "outsider does not": all(marker not in json.dumps(r) for r in hidden["results"]),
    "outsider gets 404": as_outsider.get(f"/api/v1/documents/{document}").status_code == 404,
}
as_owner.delete(f"/api/v1/documents/{document}")
for user in (owner, outsider):
    admin.delete(f"/api/v1/users/{user}")
print(json.dumps(checks))
sys.exit(0 if all(checks.values()) else 1)
