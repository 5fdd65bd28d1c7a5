"""The service-account key from a Prefect Secret block (the production way to hand the key to deployments)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance.google.credentials import CredentialsError, load_service_account_info
from compliance.settings import load_settings

KEY: dict[str, Any] = {
    "type": "service_account",
    "client_email": "compliance@district-project.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\nnot-used-here\n-----END PRIVATE KEY-----\n",
    "token_uri": "https://oauth2.googleapis.com/token",
}


@pytest.mark.slow
def test_key_from_secret_block(prefect_harness: None) -> None:
    from prefect.blocks.system import Secret

    Secret(value=KEY).save("google-sa-dict", overwrite=True)
    Secret(value=json.dumps(KEY)).save("google-sa-text", overwrite=True)
    Secret(value={"type": "authorized_user"}).save("google-sa-wrong", overwrite=True)

    for name in ("google-sa-dict", "google-sa-text"):
        settings = load_settings(google={"service_account_secret_block": name})
        assert load_service_account_info(settings) == KEY
    with pytest.raises(CredentialsError, match="google-sa-wrong"):
        load_service_account_info(load_settings(google={"service_account_secret_block": "google-sa-wrong"}))
