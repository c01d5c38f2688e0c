"""Account control over REST, mixed into Client: blocks, sessions, password change,
closing the account (docs/protocol.md, REST, protocol 1.1).

Each is one REST call with the client's token. The calls that revoke this client's
own token (logout_all, delete_account, revoking the current session) forget the
credentials first, so the live session ends with LoggedOut instead of logging in
again by itself."""

from __future__ import annotations

from improto.frames import DEVICE_NAME


def login_body(username: str, password: str, device: str) -> dict:
    """The login request, naming the device (shown in the sessions list) when it is a
    valid device name; a name the server would refuse is left for `auth` to refuse."""
    body = {"username": username, "password": password}
    if DEVICE_NAME.fullmatch(device) and len(device) <= 64:
        body["device"] = device
    return body


class AccountControl:
    """Methods of Client (imclient.client); they use its `request`."""

    async def block(self, user_id: int) -> dict:
        """Block a user: their private messages to me are refused, they cannot add me
        to a group, they no longer see my presence. Blocking twice is not an error.
        Returns `{user_id, user, created}`."""
        return await self.request("POST", "/api/blocks/", {"user_id": user_id})

    async def unblock(self, user_id: int) -> None:
        """Lift a block (ApiError 404 if there was none)."""
        await self.request("DELETE", f"/api/blocks/{user_id}/")

    async def blocks(self) -> list[dict]:
        """The users I blocked, newest first."""
        return await self.request("GET", "/api/blocks/")

    async def sessions(self) -> list[dict]:
        """My sessions: `[{id, device, created, last_used, expiry, current}]`."""
        return await self.request("GET", "/api/auth/sessions/")

    async def revoke_session(self, session_id: int) -> None:
        """Sign one of my sessions out; its connections get `offline`/`logout`."""
        current = [s["id"] for s in await self.sessions() if s.get("current")]
        if session_id in current:
            self._forget_credentials()
        await self.request("DELETE", f"/api/auth/sessions/{session_id}/")

    async def logout_all(self) -> None:
        """Sign every session of mine out, this one included."""
        self._forget_credentials()
        await self.request("POST", "/api/auth/logout-all/")

    async def change_password(self, old_password: str, new_password: str) -> None:
        """Every other session of mine is signed out; this one stays."""
        await self.request("POST", "/api/auth/password/",
                           {"old_password": old_password, "new_password": new_password})
        if self._credentials is not None:
            self._credentials = (self._credentials[0], new_password)

    async def delete_account(self, password: str) -> None:
        """Close my account for good: it can no longer log in; messages I sent stay."""
        self._forget_credentials()
        await self.request("DELETE", "/api/users/me/", {"password": password})

    def _forget_credentials(self) -> None:
        self._credentials = None
        self._logged_out = True
