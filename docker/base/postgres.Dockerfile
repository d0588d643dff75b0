# localhost/platform-postgres:15: Debian bookworm's postgresql-15 from a debootstrap root
# filesystem made by build.sh, with an entrypoint honouring the official postgres image's contract
# (POSTGRES_USER/PASSWORD/DB, PGDATA, initdb on an empty data directory). Differences from
# postgres:15 are listed in docker/README.md.
FROM scratch
ADD rootfs.tar /
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# The real server binaries (initdb, postgres, pg_ctl, pg_isready, psql) come first, not Debian's
# perl wrappers in /usr/bin.
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# initdb picks the encoding from the locale: UTF8 without the locales package.
ENV LANG=C.UTF-8
# Same default as the official image; the manifests point it at a subdirectory of the mount.
ENV PGDATA=/var/lib/postgresql/data
ENV PG_MAJOR=15
LABEL org.opencontainers.image.title="platform-postgres" \
      org.opencontainers.image.description="Debian bookworm postgresql-15 (air-gapped stand-in for postgres:15)" \
      org.opencontainers.image.base.name="debian:bookworm (debootstrap minbase)"
VOLUME /var/lib/postgresql/data
# The official image's numeric postgres user: never root, not even for the entrypoint.
USER 999:999
ENTRYPOINT ["docker-entrypoint.sh"]
# SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to disconnect).
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
