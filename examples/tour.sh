#!/usr/bin/env bash
# A five-minute tour of the API against `make run` (http://127.0.0.1:8000): one returned smart
# speaker, from its sale to refurbished stock, with the audit trail verified at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BACKHAUL_URL:-http://127.0.0.1:8000}
BH=.venv/bin/backhaul
ADMIN=$($BH keys create --role admin --name "tour admin" 2>/dev/null)
TECH=$($BH keys create --role technician --site HUB-US --name "tour bench" 2>/dev/null)
api() { local token=$1; shift; curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
field() { .venv/bin/python -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
step() {  # step TOKEN NAME JSON: run a step, print the state it led to
  api "$1" "$BASE/api/v1/units/$SERIAL/steps/$2" -d "$3" | .venv/bin/python -c \
    'import json,sys; d=json.load(sys.stdin); print(sys.argv[1].ljust(12), "->", d["state"], d["outcome"], d.get("decision") or "")' "$2"
}

SERIAL=$(api "$ADMIN" "$BASE/api/v1/units?sku=SPK-100&state=in_field&limit=1" | field 'd[0]["serial"]')
echo "unit $SERIAL"
RELEASE=$(api "$ADMIN" "$BASE/api/v1/products/SPK-100/firmware" | field '[r for r in d if r["status"]=="current"][0]["version"]')
SHA=$(api "$ADMIN" "$BASE/api/v1/products/SPK-100/firmware/$RELEASE" | field 'd["sha256"]')
# The station downloads the current image and checks it against the release's hash.
IMAGE=$(mktemp)
curl -sf -H "Authorization: Bearer $TECH" -o "$IMAGE" "$BASE/api/v1/products/SPK-100/firmware/$RELEASE/image"
IMAGE_SHA=$(sha256sum "$IMAGE" | cut -d' ' -f1); rm -f "$IMAGE"
if [ "$IMAGE_SHA" != "$SHA" ]; then echo "the downloaded image is not release $RELEASE's" >&2; exit 1; fi
echo "image $RELEASE downloaded; its sha256 matches the release"
# Tests are run on a rig whose calibration is current (Reno's RF enclosure is overdue).
api "$TECH" "$BASE/api/v1/sites/HUB-US/rigs" | field '"; ".join(r["code"] + ": " + r["status"] for r in d)'

step "$ADMIN" authorize '{"rma":"RMA-TOUR","reason":"defect.hardware","resolution":"refund"}'
step "$ADMIN" ship '{"carrier":"UPS","tracking_number":"1ZTOUR0001"}'
step "$TECH" receive '{"site":"HUB-US"}'
step "$TECH" inspect '{"outcome":"pass","packaging":"opened","accessories_present":["power adapter"]}'
step "$TECH" sanitize '{"method":"purge","tool":"WipeKit 4.2","verification":"full","verification_result":"passed","account":"deactivated","account_confirmation":{"source":"manual","reference":"LUMEN-CLOUD-77123"}}'
step "$TECH" flash "{\"release\":\"$RELEASE\",\"image_sha256\":\"$IMAGE_SHA\",\"readback_version\":\"$RELEASE\",\"readback_sha256\":\"$SHA\"}"
step "$TECH" test '{"plan":1,"rig":"RIG-US-1","measurements":{"speaker_spl":91.5,"mic_array":true,"wifi_rssi":-52}}'
step "$TECH" grade '{"cosmetic":"B","functional":"pass"}'
step "$TECH" disposition '{}'
step "$TECH" repackage '{}'
api "$ADMIN" "$BASE/api/v1/inventory?sku=SPK-100"; echo
$BH audit checkpoint && $BH audit verify
