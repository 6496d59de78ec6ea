"""moto's server for IAM and STS, as testkit's iam_keys module runs it.

One change to moto: the errors of its signature and permission checks
(InvalidClientTokenId, SignatureDoesNotMatch, AccessDenied) are answered in
the shape IAM and STS (the awsQuery protocol) use,
``<ErrorResponse><Error><Code>…``, instead of moto's generic
``<ErrorResponse><Errors><Error>…``, which the AWS SDKs cannot read a code
from. Nothing else differs from ``moto_server``; its arguments are passed on.
"""

import sys

from moto.core import exceptions
from moto.server import main
from xmltodict import unparse


def answer_as_aws_query(cls):
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        error = {"Type": "Sender", "Code": self.error_type, "Message": self.message}
        self.description = unparse(
            {"ErrorResponse": {"Error": error, "RequestId": "moto"}},
            full_document=True,
        )

    cls.__init__ = __init__


for error_class in (
    exceptions.InvalidClientTokenIdError,
    exceptions.SignatureDoesNotMatchError,
    exceptions.AccessDeniedError,
):
    answer_as_aws_query(error_class)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
