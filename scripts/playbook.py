"""The playbook (what the assistant knows of the business: n8n/supabase/schema.sql's playbook_* tables) to and
from CSV files, one per table (playbook_faq.csv, ...), for the sales team to edit in a spreadsheet:

    python scripts/playbook.py export playbook/                       # every playbook table into playbook/*.csv
    python scripts/playbook.py import n8n/supabase/playbook/          # the sample playbook, or your edited files
    python scripts/playbook.py import playbook/ --prune               # and delete the rows the files no longer have

The database is SUPABASE_DB_URL (Supabase: Project Settings > Database > Connection string, URI), or
--database-url. An import upserts by id (running it twice changes nothing) in one transaction: a file that
does not load changes no table. Only the files present are imported. Lists (tags, keywords, words_to_avoid)
are written as PostgreSQL writes them, {prazo,"carta de crédito"}; an empty cell is an empty text or list
(valid_from, valid_to: no bound). Needs PostgreSQL's client, psql.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

TABLES: dict[str, dict[str, str]] = {  # table -> column -> text, list or date (id first: the key)
    "playbook_company": dict.fromkeys(("id", "area", "name", "sells", "address_clients", "tone"), "text")
    | {"words_to_avoid": "list"},
    "playbook_offers": dict.fromkeys(("id", "area", "name", "description", "prices_and_conditions"), "text")
    | dict.fromkeys(("valid_from", "valid_to"), "date"),
    "playbook_faq": dict.fromkeys(("id", "area", "question", "answer"), "text") | {"tags": "list"},
    "playbook_qualification": dict.fromkeys(("id", "area", "question", "field_name"), "text"),
    "playbook_objections": dict.fromkeys(("id", "area", "objection", "answer"), "text"),
    "playbook_handover_topics": dict.fromkeys(("id", "area", "topic"), "text") | {"keywords": "list"},
}


def quoted(path: Path) -> str:
    """A file name for psql's \\copy."""
    return "'" + str(path.resolve()).replace("'", "''") + "'"


def export_script(folder: Path) -> str:
    lines = ["SET DateStyle = ISO;"]
    for table, columns in TABLES.items():
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"  # noqa: S608 - names of this file
        lines.append(f"\\copy ({query}) TO {quoted(folder / f'{table}.csv')} WITH (FORMAT csv, HEADER true)")
    return "\n".join(lines) + "\n"


def header(path: Path, table: str) -> list[str]:
    """The file's columns, each one of the table's, id among them."""
    with path.open(newline="", encoding="utf-8") as file:
        names = [name.strip() for name in next(csv.reader(file), [])]
    unknown = [name for name in names if name not in TABLES[table]]
    if unknown or "id" not in names:
        sys.exit(f"{path}: the first line names the columns, id and any of {', '.join(TABLES[table])} (not {unknown})")
    return names


def import_script(folder: Path, *, prune: bool) -> str:
    lines = ["SET DateStyle = ISO;"]
    for table, kinds in TABLES.items():
        path = folder / f"{table}.csv"
        if not path.exists():
            continue
        columns = header(path, table)
        names = ", ".join(columns)
        texts = ", ".join(column for column in columns if kinds[column] == "text")
        values = ", ".join(f"coalesce({column}, '{{}}')" if kinds[column] == "list" else column for column in columns)
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column != "id")
        lines += [
            "DROP TABLE IF EXISTS staging;",
            # the names are this file's (header() checked the file's): no NOT NULL here, coalesced below
            f"CREATE TEMP TABLE staging AS SELECT {names} FROM {table} WITH NO DATA;",  # noqa: S608
            f"\\copy staging ({names}) FROM {quoted(path)} WITH (FORMAT csv, HEADER true, FORCE_NOT_NULL ({texts}))",
            f"INSERT INTO {table} ({names}) SELECT {values} FROM staging "  # noqa: S608
            f"ON CONFLICT (id) DO {f'UPDATE SET {updates}' if updates else 'NOTHING'};",
        ]
        if prune:
            lines.append(f"DELETE FROM {table} WHERE id NOT IN (SELECT id FROM staging);")  # noqa: S608
    return "\n".join(lines) + "\n"


def run_psql(database_url: str, script: str) -> None:
    """Run `script` with psql in one transaction, stopping at the first error."""
    psql = shutil.which("psql")
    if psql is None:
        sys.exit("psql (PostgreSQL's client) is needed: apt-get install postgresql-client, or brew install libpq")
    completed = subprocess.run(  # noqa: S603 - PostgreSQL's own client
        [psql, database_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode:
        sys.exit(f"psql failed, nothing changed: {completed.stderr.strip()}")


def export_playbook(database_url: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    run_psql(database_url, export_script(folder))


def import_playbook(database_url: str, folder: Path, *, prune: bool = False) -> None:
    if not folder.is_dir():
        sys.exit(f"{folder}: not a folder")
    run_psql(database_url, import_script(folder, prune=prune))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["export", "import"])
    parser.add_argument("folder", type=Path, help="where the CSV files are (or go)")
    parser.add_argument("--database-url", default=os.environ.get("SUPABASE_DB_URL", ""), help="default SUPABASE_DB_URL")
    parser.add_argument("--prune", action="store_true", help="import: delete the rows whose id no file has")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("set SUPABASE_DB_URL or give --database-url (postgresql://user:password@host:5432/postgres)")
    if args.action == "export":
        export_playbook(args.database_url, args.folder)
    else:
        import_playbook(args.database_url, args.folder, prune=args.prune)
    print(f"{args.action}ed the playbook ({args.folder})")


if __name__ == "__main__":
    main()
