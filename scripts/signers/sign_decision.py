#!/usr/bin/env python3
"""Signs an approval decision for agent-runtime, independently of the TypeScript code.

Reads JSON on stdin: {"pem": "<path to a PKCS#8 Ed25519 private key>", "keyId": "...",
"decision": {"approvalId", "argsHash", "decision", "approver", "editedArgs"?, "comment"?}, "expiresAt": "..."}
and prints the decision with keyId, signature and expiresAt added (JSON), ready for the approval signal,
the decideApproval Update or the HTTP API. The signed bytes (README, "Signed approvals"): the UTF-8 of the
canonical JSON (keys sorted, no whitespace) of {approvalId, approver, argsHash, decision, domain,
editedArgs?, expiresAt}.
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key

DOMAIN = "agent-runtime/approval-decision/v1"


def signing_bytes(d, expires_at):
    fields = {
        "approvalId": d["approvalId"],
        "approver": d["approver"],
        "argsHash": d["argsHash"],
        "decision": d["decision"],
        "domain": DOMAIN,
        "expiresAt": expires_at,
    }
    if "editedArgs" in d:
        fields["editedArgs"] = d["editedArgs"]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def main():
    req = json.load(sys.stdin)
    with open(req["pem"], "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    d = req["decision"]
    sig = key.sign(signing_bytes(d, req["expiresAt"]))
    print(json.dumps({**d, "keyId": req["keyId"], "signature": sig.hex(), "expiresAt": req["expiresAt"]}))


if __name__ == "__main__":
    main()
