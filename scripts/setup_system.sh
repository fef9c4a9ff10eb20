#!/usr/bin/env bash
# System packages of the project (Debian): TeX Live, latexmk, poppler-utils, Fashion-MNIST,
# the MATE nature wallpapers (the diffusion demo's outdoor photos).
# As root, installs what is missing; otherwise prints the exact apt command and fails.
set -euo pipefail

PACKAGES=(texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
          texlive-pictures texlive-science lmodern latexmk poppler-utils dataset-fashion-mnist
          mate-backgrounds)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing system packages (${missing[*]}) and no apt-get here; install TeX Live with" \
       "latexmk, poppler-utils and the Fashion-MNIST idx files by other means (see README)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "run this as root, then run make again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
