# Multi-stage build: a static binary on a minimal, non-root base. No keys are baked in: mount
# the SP key pair and configuration at run time.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/eidsp ./cmd/eidsp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/eidsp /usr/local/bin/eidsp
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/eidsp"]
CMD ["serve", "-config", "/etc/eidsp/eidsp.yaml"]
