# localhost/platform-postgres:<major>: Debian's postgresql-<major> (15 from bookworm, 17 from trixie)
# from a debootstrap root filesystem made by build.sh, with an entrypoint honouring the official
# postgres image's contract (POSTGRES_USER/PASSWORD/DB, PGDATA, initdb on an empty data directory)
# and refusing a data directory of another major (pg-version-guard). Differences from the
# official postgres images are listed in docker/README.md.
FROM scratch
ARG PG_MAJOR=15
ARG DEBIAN_SUITE=bookworm
ADD rootfs.tar /
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY pg-version-guard.sh /usr/local/bin/pg-version-guard
# The real server binaries (initdb, postgres, pg_ctl, pg_isready, psql, pg_dump) come first, not
# Debian's perl wrappers in /usr/bin.
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# initdb picks the encoding from the locale: UTF8 without the locales package.
ENV LANG=C.UTF-8
# Same default as the official image; the manifests point it at a subdirectory of the mount.
ENV PGDATA=/var/lib/postgresql/data
# The official image sets it too; scripts read the image's major from it.
ENV PG_MAJOR=${PG_MAJOR}
LABEL org.opencontainers.image.title="platform-postgres" \
      org.opencontainers.image.description="Debian ${DEBIAN_SUITE} postgresql-${PG_MAJOR} (air-gapped stand-in for postgres:${PG_MAJOR})" \
      org.opencontainers.image.base.name="debian:${DEBIAN_SUITE} (debootstrap minbase)"
VOLUME /var/lib/postgresql/data
# The official image's numeric postgres user: never root, not even for the entrypoint.
USER 999:999
ENTRYPOINT ["docker-entrypoint.sh"]
# SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to disconnect).
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
