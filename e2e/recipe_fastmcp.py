"""The README recipe "FastMCP": an MCP server written with FastMCP that
checks tenantless's access tokens itself, with JWTVerifier, and tells
clients where to sign in with RemoteAuthProvider.

What FastMCP assumes, and what this sets:
- JWTVerifier accepts ONE algorithm, RS256 unless told, and skips JWKS keys
  of the other type: run tenantless with --signing-alg RS256, or pass
  algorithm="ES256" for the default ES256 keys.
- audience is this server's own MCP URL, exactly as registered with
  "tenantless resource add"; issuer is tenantless's issuer.
- An unknown kid (a rotated key) refetches the JWKS, at most once per
  jwks_refresh_interval (30 s by default).

Configured by the environment: TENANTLESS_ISSUER, PORT, SCOPE,
SIGNING_ALG (default RS256), JWKS_REFRESH_INTERVAL (default 30).
"""

import os

from fastmcp import FastMCP
from fastmcp.server.auth import RemoteAuthProvider
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token

issuer = os.environ["TENANTLESS_ISSUER"]
port = int(os.environ["PORT"])
scope = os.environ["SCOPE"]
base_url = f"http://127.0.0.1:{port}"

verifier = JWTVerifier(
    jwks_uri=f"{issuer}/jwks.json",
    issuer=issuer,
    audience=f"{base_url}/mcp",
    algorithm=os.environ.get("SIGNING_ALG", "RS256"),
    required_scopes=[scope],
    jwks_refresh_interval=float(os.environ.get("JWKS_REFRESH_INTERVAL", "30")),
)
auth = RemoteAuthProvider(
    token_verifier=verifier,
    authorization_servers=[issuer],
    base_url=base_url,
    scopes_supported=[scope],
    resource_name="FastMCP recipe",
)
mcp = FastMCP("fastmcp-recipe", auth=auth)


@mcp.tool
def whoami() -> str:
    """Who the access token is for."""
    token = get_access_token()
    return f"user={token.claims.get('preferred_username')} scope={' '.join(token.scopes)}"


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=port, path="/mcp")
