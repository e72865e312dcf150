"""Deploy a release archive to the web servers."""

import argparse
import subprocess


def upload(archive: str, host: str) -> None:
    """Copy the archive to the host and unpack it in the web root."""
    # Both steps run through the shell so that the ~ in the path is expanded.
    subprocess.run(f"scp {archive} deploy@{host}:~/releases/", shell=True, check=True)
    subprocess.run(
        f"ssh deploy@{host} 'tar -xzf ~/releases/{archive} -C /srv/www'", shell=True, check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("archive", help="release archive (.tar.gz)")
    parser.add_argument("hosts", nargs="+", help="servers to deploy to")
    args = parser.parse_args()
    for host in args.hosts:
        upload(args.archive, host)
        print(f"deployed {args.archive} to {host}")


if __name__ == "__main__":
    main()
