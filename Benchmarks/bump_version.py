"""A person's release of one environment, as `slipway plan`'s benchmark does before each timed
run: a new version in the manifest at argv[1], committed. The version counts up in argv[2]."""
import pathlib, re, subprocess, sys

manifest, counter = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
n = int(counter.read_text()) + 1 if counter.exists() else 0
counter.write_text(str(n))
manifest.write_text(re.sub(r'version: "[^"]+"', f'version: "3.0.{n}"', manifest.read_text(), count=1))
subprocess.run(["git", "-C", str(manifest.parent.parent), "-c", "user.name=Person", "-c", "user.email=person@example.com",
                "commit", "-qam", f"Release 3.0.{n}"], check=True)
