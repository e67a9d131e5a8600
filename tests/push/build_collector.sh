#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the push tests run (issue 19): the
# collector's own service with the OTLP receiver and the contrib file
# exporter, pinned at one release, from the Go module proxy, with the
# machine's Go 1.26 (/usr/local/go/bin/go; Debian 12's golang-go is too old
# for these modules). Everything goes under ~/.cache/pystrobe/:
#   otelcol-<version>/otelcol-pystrobe   the binary (what the tests run)
#   otelcol-<version>/src/               main.go, go.mod, go.sum (generated)
#   go/                                  Go's module and build caches
# Idempotent: an existing binary is kept. Prints the binary's path.
#
#   tests/push/build_collector.sh            # build once, print the path
#   PYSTROBE_GO=/path/to/go tests/push/build_collector.sh
set -euo pipefail

version=0.161.0         # go.opentelemetry.io/collector v0.x and contrib
stable_version=1.67.0   # go.opentelemetry.io/collector v1.x modules, same release
cache="${PYSTROBE_CACHE:-$HOME/.cache/pystrobe}"
out="$cache/otelcol-$version"
binary="$out/otelcol-pystrobe"

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

go="${PYSTROBE_GO:-/usr/local/go/bin/go}"
if [ ! -x "$go" ]; then go="$(command -v go || true)"; fi
if [ -z "$go" ]; then
  echo "build_collector: no Go toolchain (want Go >= 1.24 at /usr/local/go/bin/go)" >&2
  exit 1
fi
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod
export GOTOOLCHAIN=local CGO_ENABLED=0

src="$out/src"
mkdir -p "$src"
cat >"$src/main.go" <<'GO'
// The collector pystrobe's push tests run: OTLP in, files out.
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func factories() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](fileexporter.NewFactory()); err != nil {
		return f, err
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-pystrobe",
			Description: "OTLP receiver and file exporter for pystrobe's tests",
			Version:     "VERSION",
		},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				// Only files: the tests write the whole configuration.
				DefaultScheme: "file",
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}
GO
sed -i "s/\"VERSION\"/\"$version\"/" "$src/main.go"
cd "$src"
rm -f go.mod go.sum
"$go" mod init pystrobe.test/otelcol >/dev/null 2>&1
"$go" get \
  "go.opentelemetry.io/collector/otelcol@v$version" \
  "go.opentelemetry.io/collector/receiver/otlpreceiver@v$version" \
  "go.opentelemetry.io/collector/confmap/provider/fileprovider@v$stable_version" \
  "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter@v$version" >&2
"$go" mod tidy >&2
"$go" build -p 2 -trimpath -o "$binary.tmp" . >&2
mv "$binary.tmp" "$binary"
echo "$binary"
