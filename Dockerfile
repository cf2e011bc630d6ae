# syntax=docker/dockerfile:1
# Build a static consentproxy binary, then run it as an unprivileged user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/consentproxy ./cmd/consentproxy

FROM alpine:3.20
# wget (busybox) answers the compose healthcheck; ca-certificates are the
# upstream trust roots.
RUN apk add --no-cache ca-certificates && adduser -D -u 10001 consentproxy \
    && mkdir -p /data && chown consentproxy /data
COPY --from=build /out/consentproxy /usr/local/bin/consentproxy
USER consentproxy
VOLUME /data
EXPOSE 8080 8081
# Inside the container the listeners must bind to all interfaces so that
# Docker can publish them; docker-compose.yml publishes them on the host's
# 127.0.0.1 only, which keeps the proxy private to this machine.
ENTRYPOINT ["consentproxy"]
CMD ["run", "--data-dir", "/data", "--listen", "0.0.0.0:8080", "--admin", "0.0.0.0:8081", "--allow-remote"]
