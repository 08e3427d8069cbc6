#!/usr/bin/env bash
# Builds bin/sinkscope and puts the ECharts bundle next to it, so the binary draws its HTML figures
# wherever it is copied (it looks for echarts.min.js beside itself first).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p bin
go build -o bin/sinkscope ./cmd/sinkscope
js=node_modules/echarts/dist/echarts.min.js
if [ -f "$js" ]; then
	cp "$js" bin/echarts.min.js
else
	echo "scripts/build.sh: $js missing (run scripts/setup.sh); HTML figures will need --echarts" >&2
fi
