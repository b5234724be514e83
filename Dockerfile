# SPDX-License-Identifier: MIT
#
# Dockerfile - the msgrelay image for compose.yaml: the relay binary and the
# bank-transfer example (examples/transfer), built from this repository on
# Debian 12 and run as an unprivileged user. Two stages: build (compilers and
# -dev packages, the same Debian packages as scripts/deps), then a slim
# runtime with only the shared libraries. ENTRYPOINT is msgrelay; the
# transfer service overrides it with `transfer`.

FROM debian:bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc libc6-dev make pkg-config libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev \
      libsqlite3-dev librdkafka-dev default-libmysqlclient-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make BUILD=build build/msgrelay build/examples/transfer/transfer

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libmicrohttpd12 libcurl4 libjansson4 libsqlite3-0 librdkafka1 libmariadb3 libpq5 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/msgrelay --create-home msgrelay
COPY --from=build /src/build/msgrelay /src/build/examples/transfer/transfer /usr/local/bin/
COPY --from=build /src/sql/barrier/mysql.sql /usr/local/share/msgrelay/barrier.mysql.sql
COPY --from=build /src/examples/transfer/schema.sql /usr/local/share/msgrelay/transfer.sql
USER msgrelay
WORKDIR /var/lib/msgrelay
EXPOSE 36789
ENTRYPOINT ["msgrelay"]
CMD ["serve"]
