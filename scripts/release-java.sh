#!/usr/bin/env bash
# scripts/release-java.sh DIST — the Java SDK's release artefacts into DIST,
# built from Debian's packages with javac and jar (no Maven registry, and
# no protoc: the message classes are checked in under
# clients/java/src/generated/java):
#   event-grpc-client-X.Y.Z.jar          SDK + message classes, META-INF/LICENSE
#   event-grpc-client-X.Y.Z-sources.jar  their sources
#   event-grpc-client-X.Y.Z.pom          the Maven metadata (clients/java/pom.xml)
# X.Y.Z is the pom's version. The classes are compiled for Java 11 against
# Debian's protobuf-java (3.21.12-3+deb12u1, CVE-2024-7254 fixed); the pom
# asks Maven users for protobuf-java 3.25.5, the first upstream release
# outside that CVE's range.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${1:?usage: release-java.sh DIST}" && pwd)
cd "$root"
need=()
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/protobuf.jar ] || need+=(libprotobuf-java)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null ||
    { apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null &&
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null; }
fi
version=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' clients/java/pom.xml | head -1)
[ -n "$version" ] || { echo "release-java: no <version> in clients/java/pom.xml" >&2; exit 1; }
name=event-grpc-client-$version
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find clients/java/src/generated/java clients/java/src/main/java -name '*.java' >"$work/src.list"
javac -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC --release 11 -encoding UTF-8 -nowarn \
  -d "$work/classes" -cp /usr/share/java/protobuf.jar @"$work/src.list"
mkdir -p "$work/classes/META-INF" "$work/sources/META-INF"
cp LICENSE "$work/classes/META-INF/LICENSE"
cp LICENSE "$work/sources/META-INF/LICENSE"
cp -r clients/java/src/generated/java/. clients/java/src/main/java/. "$work/sources/"
jar --create --file "$dist/$name.jar" -C "$work/classes" .
jar --create --file "$dist/$name-sources.jar" -C "$work/sources" .
cp clients/java/pom.xml "$dist/$name.pom"
# What a user loads: the client class, and the message classes beside it.
jar --list --file "$dist/$name.jar" | grep -qx 'io/eventgrpc/client/EventGrpcClient.class'
jar --list --file "$dist/$name.jar" | grep -qx 'io/eventgrpc/v1/Event.class'
jar --list --file "$dist/$name-sources.jar" | grep -qx 'io/eventgrpc/client/EventGrpcClient.java'
echo "release-java: $dist/$name.jar $dist/$name-sources.jar $dist/$name.pom"
