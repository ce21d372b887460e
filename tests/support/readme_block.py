#!/usr/bin/env python3
"""Writes the code block that follows `<!-- NAME -->` in README.md to a file, so that a test
compiles the README's code as it is written there.

Usage: readme_block.py README.md NAME OUTPUT"""

import sys


def main():
    readme, name, output = sys.argv[1:]
    marker = f"<!-- {name} -->"
    lines = open(readme, encoding="utf-8").read().splitlines()
    if marker not in lines:
        sys.exit(f"{readme}: no {marker}")
    start = lines.index(marker) + 1
    if start >= len(lines) or not lines[start].startswith("```"):
        sys.exit(f"{readme}: {marker} is not followed by a code block")
    try:
        end = lines.index("```", start + 1)
    except ValueError:
        sys.exit(f"{readme}: the code block after {marker} does not end")
    with open(output, "w", encoding="utf-8") as f:
        f.write(f"// Generated from {readme} ({marker}) by tests/support/readme_block.py.\n")
        f.write("\n".join(lines[start + 1:end]) + "\n")


if __name__ == "__main__":
    main()
