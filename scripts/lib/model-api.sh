# shellcheck shell=bash
# The scripted model API (images/fixture/model_api.py) for the demo and the benchmarks: a
# container on a network of its own, behind TLS from a throwaway CA, standing in for the real
# API hosts; the sidecar joins that network and sends every upstream name there, so nothing
# leaves this machine. Needs the bot-bottle-fixture image (scripts/images fixture) and openssl.
#
#   bb_model_api_start TAG DIR SCRIPT_JSON   start TAG-api (network) and TAG-model (container)
#                                            with the script; certificates go to DIR/certs; sets
#                                            and exports the BOT_BOTTLE_* variables a launch needs
#   bb_model_api_log TAG                     the requests it received, one JSON line each
#   bb_model_api_stop TAG                    remove both

bb_model_api_start() {
	local tag=$1 dir=$2 script=$3 ip
	mkdir -p "$dir/certs" "$dir/script"
	(
		cd "$dir/certs"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
			-out ca.pem -days 1 -subj "/CN=bot-bottle model API CA" 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
			-out leaf.csr -subj "/CN=model API" 2>/dev/null
		echo "subjectAltName=DNS:api.anthropic.com,DNS:api.openai.com,DNS:chatgpt.com" >ext
		openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem \
			-days 1 -extfile ext 2>/dev/null
		chmod 0644 ./*.pem ./*.key
	)
	printf '%s\n' "$script" >"$dir/script/script.json"
	docker network create --label bot-bottle.demo=1 "$tag-api" >/dev/null
	docker run -d --name "$tag-model" --label bot-bottle.demo=1 --network "$tag-api" \
		-e FIXTURE_TLS_CERT=/certs/leaf.pem -e FIXTURE_TLS_KEY=/certs/leaf.key \
		-v "$dir/certs:/certs:ro" -v "$dir/script:/fixture:ro" \
		--entrypoint python3 bot-bottle-fixture:latest -u /usr/local/bin/model_api.py >/dev/null
	ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$tag-api\").IPAddress}}" "$tag-model")
	export BOT_BOTTLE_EXTRA_ROOTS=$dir/certs/ca.pem        # the sidecar trusts the throwaway CA
	export BOT_BOTTLE_SIDECAR_EXTRA_NETWORK=$tag-api       # ... and reaches the model API
	export BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE=$ip         # every upstream name -> the model API
}

bb_model_api_log() {
	docker exec "$1-model" cat /tmp/model-requests.jsonl 2>/dev/null
}

bb_model_api_stop() {
	docker rm -f "$1-model" >/dev/null 2>&1
	docker network rm "$1-api" >/dev/null 2>&1
	return 0
}
