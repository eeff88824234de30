"""Bootstrap Kommo OAuth2: exchange an authorization code and store the token pair in DynamoDB.

    python scripts/kommo_authorize.py --function <deployed VendorSyncFunction name> --code <code>

The code comes from the integration's redirect (it lives 20 minutes). The function's environment
(table names, subdomain, client id, KOMMO_SECRET_ARN) is read from AWS, so nothing else is needed but
AWS credentials. Run it again whenever the service reports KommoReauthorizationRequired.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", required=True, help="name of a deployed function of the stack")
    parser.add_argument("--code", required=True, help="OAuth2 authorization code from Kommo")
    args = parser.parse_args()

    import boto3

    from sales_assistant.adapters.kommo.client import store_authorization
    from sales_assistant.config import load_settings

    configuration = boto3.client("lambda").get_function_configuration(FunctionName=args.function)
    environment = {**os.environ, **configuration["Environment"]["Variables"]}
    version = store_authorization(load_settings(environment), args.code)
    print(f"Kommo token pair stored (version {version}). The service uses it from now on.")


if __name__ == "__main__":
    main()
