"""Values podman-compose passes to podman as arguments of their own, not as the value of an
option: `podman create ... IMAGE`, `podman pull IMAGE`, `podman stop NAME`, `podman rm NAME`,
`podman logs NAME` (and a remote build context, checked with the build). There a leading `-`
is an option (`image: --privileged`, `container_name: --all`). Values given after an option
in the same word (`--name=NAME`, `--pull=POLICY`) or as the next word (`-u USER`, `-w DIR`,
`--hostname NAME`, `--platform P`: podman takes the next word whatever it is) are safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pgo.policy.fields import PLAIN_NAME

_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")
# containers-transports(5): `TRANSPORT:DETAILS` in an image name, read by podman create and
# pull (and, as `build -t`, written), that name host paths, a storage root or a daemon's
# socket. Not `docker`: `docker://REF` is a registry, and `docker:27` the image "docker".
_TRANSPORTS = ("containers-storage", "dir", "docker-archive", "docker-daemon", "oci",
               "oci-archive", "ostree", "sif", "tarball")


def check_image(image: object, key: str = "image") -> Iterator[str]:
    """An image reference: no leading `-`, no space, no transport."""
    if not isinstance(image, str) or not _IMAGE.match(image):
        yield f"{key} {image!r} is not an image reference (letters, digits and . _ / : @ -, " \
              "starting with a letter or digit): podman-compose passes it to podman as an " \
              "argument of its own, where it could be read as options; name an image such " \
              "as docker.io/library/nginx:1.27"
        return
    transport, colon, _ = image.partition(":")
    if colon and transport in _TRANSPORTS:
        yield f"{key} {image!r} names podman's {transport!r} transport, which reads or " \
              "writes images at host paths or through another daemon; name an image in a " \
              "registry, such as docker.io/library/nginx:1.27"


def check_container_name(name: object) -> Iterator[str]:
    """podman's own rule for names; podman-compose passes it to stop, rm and logs."""
    if not isinstance(name, str) or not PLAIN_NAME.match(name):
        yield f"container_name {name!r} is not a plain name (letters, digits, _ . -, " \
              "starting with a letter or digit): podman-compose passes it to podman stop, rm " \
              "and logs as an argument of its own, where '--all' would be an option; rename it"

