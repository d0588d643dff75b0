# localhost/platform-python:3.11-slim: Debian bookworm's Python 3.11 (python3, venv, CA store),
# from a debootstrap root filesystem made by build.sh. Stand-in for python:3.11-slim-bookworm.
FROM scratch
ADD rootfs.tar /
# Debian's interpreter is /usr/bin/python3 (the official image builds its own in /usr/local/bin).
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# UTF-8 I/O without the locales package: C.UTF-8 is built into glibc, as in the official image.
ENV LANG=C.UTF-8
LABEL org.opencontainers.image.title="platform-python" \
      org.opencontainers.image.description="Debian bookworm python3 + venv + ca-certificates (air-gapped stand-in for python:3.11-slim)" \
      org.opencontainers.image.base.name="debian:bookworm (debootstrap minbase)"
CMD ["python3"]
