# shellcheck shell=bash
# es_serves PORT PATH HOST WANT: does nginx on this host (127.0.0.1:PORT) now serve colour
# WANT? One GET of PATH (Host: HOST, or 127.0.0.1:PORT), read by bash itself (/dev/tcp: no
# interpreter to start), judged by the X-Essay-Color header the site template adds. Asks
# again for up to 3 s while another colour answers (workers reading the marker late).
# Exit 9 only on a definite other colour; a missing header or no answer is said, exit 0.
es_serves() {
  local port=$1 path=$2 host=${3:-127.0.0.1:$1} want=$4 seen line status end now
  end=$(( ${EPOCHREALTIME/[.,]/} + 3000000 ))
  while :; do
    seen='?' status=
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
      seen=
      while IFS= read -r -t 2 line <&3; do
        line=${line%$'\r'}
        [ -n "$status" ] || { status=$line; continue; }
        [ -n "$line" ] || break
        case "${line,,}" in
          x-essay-color:*) seen=${line#*:}; seen=${seen//[[:space:]]/};;
        esac
      done
      exec 3<&-
      [ -n "$status" ] || seen='?'
    fi
    if [ "$seen" = "$want" ] || [ -z "$seen" ]; then break; fi
    now=${EPOCHREALTIME/[.,]/}
    [ "$now" -lt "$end" ] || break
    sleep 0.1
  done
  if [ -z "$seen" ]; then
    echo "nginx answers without X-Essay-Color: not verified (the site template lacks it)"
  elif [ "$seen" = '?' ]; then
    echo "nginx does not answer on http://127.0.0.1:$port$path: not verified"
  elif [ "$seen" != "$want" ]; then
    echo "nginx still serves colour $seen, not $want, after the switch"
    return 9
  else
    echo "nginx serves colour $want"
  fi
}
