"""A bearer-token check for the real `mlflow server --app-name basic-auth`, loaded through the
auth app's own hook (`authorization_function = mlflow_token_auth:authenticate_request_bearer` in
its config file). Runs inside the MLflow server's venv, not the tests' interpreter.

MLflow's stock auth app checks HTTP Basic only; MLflow documents this hook as the way to check
other credentials. What MLflow's clients send for MLFLOW_TRACKING_TOKEN is
`Authorization: Bearer <token>`, which this compares with NFM_TEST_MLFLOW_TOKEN. A match is the
user NFM_TEST_MLFLOW_TOKEN_USER (an admin of the auth app), whose permissions MLflow then checks
as for any user.
"""

import hmac
import os

from flask import Response, request
from werkzeug.datastructures import Authorization


def authenticate_request_bearer():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = os.environ["NFM_TEST_MLFLOW_TOKEN"]
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode()):
        return Authorization("bearer", {"username": os.environ["NFM_TEST_MLFLOW_TOKEN_USER"]}, token=token.strip())
    response = Response("a valid bearer token is required", 401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="mlflow"'
    return response
