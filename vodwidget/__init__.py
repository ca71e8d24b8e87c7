"""vodwidget: upload video and image files to Alibaba Cloud ApsaraVideo VOD from notebooks and scripts.

>>> from vodwidget import VODUpload, UploadInfo
>>> VODUpload(resume_store=False).list_files()
[]
"""

from vodwidget.credentials import (
    AppServerCredentials,
    CredentialProvider,
    OpenApiCredentials,
    StsCredentials,
    StsToken,
)
from vodwidget.errors import (
    CanceledError,
    CredentialError,
    InvalidInputError,
    NetworkError,
    NotFoundError,
    ServiceError,
    TokenExpiredError,
    VodUploadError,
)
from vodwidget.metadata import build_user_data
from vodwidget.models import UploadInfo
from vodwidget.resume import ResumeStore
from vodwidget.uploader import UploadRun, VODUpload

__version__ = "0.1.0"

__all__ = [
    "VODUpload",
    "UploadRun",
    "UploadInfo",
    "AppServerCredentials",
    "OpenApiCredentials",
    "StsCredentials",
    "StsToken",
    "CredentialProvider",
    "ResumeStore",
    "build_user_data",
    "upload",
    "VodUploadError",
    "InvalidInputError",
    "CredentialError",
    "TokenExpiredError",
    "NetworkError",
    "ServiceError",
    "NotFoundError",
    "CanceledError",
    "__version__",
]


def __getattr__(name: str):
    # upload() pulls in tqdm; import it on first use so `import vodwidget` stays light.
    if name == "upload":
        from vodwidget.script import upload

        return upload
    raise AttributeError(f"module 'vodwidget' has no attribute {name!r}")
