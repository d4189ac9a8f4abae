# Finds a JDK of release 25 or later and exports JAVA_HOME to it. Sourced by ./mvnw and ./anymap.
# Looked for, in order: $ANYMAP_JAVA_HOME, $JAVA_HOME, the java on PATH, then the usual install
# places (/usr/lib/jvm, /opt/java, /usr/local/lib/jvm, SDKMAN, macOS). The newest found wins.

anymap_jdk_release() { # prints the feature release of the JDK at $1, or nothing
  local release="$1/release" version
  [ -x "$1/bin/java" ] || return 0
  if [ -f "$release" ]; then
    version=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9]*\).*/\1/p' "$release")
  else
    version=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9][0-9]*\).*/\1/p')
  fi
  printf '%s' "$version"
}

anymap_find_jdk() {
  local wanted=25 candidate release best="" best_release=0 on_path=""
  if command -v java >/dev/null 2>&1; then
    on_path=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  fi
  for candidate in "${ANYMAP_JAVA_HOME:-}" "${JAVA_HOME:-}" "$on_path"; do
    [ -n "$candidate" ] || continue
    release=$(anymap_jdk_release "$candidate")
    if [ -n "$release" ] && [ "$release" -ge "$wanted" ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  for candidate in /usr/lib/jvm/* /opt/java/* /usr/local/lib/jvm/* "$HOME"/.sdkman/candidates/java/* \
      /Library/Java/JavaVirtualMachines/*/Contents/Home; do
    [ -d "$candidate" ] || continue
    release=$(anymap_jdk_release "$candidate")
    if [ -n "$release" ] && [ "$release" -ge "$wanted" ] && [ "$release" -gt "$best_release" ]; then
      best="$candidate"
      best_release="$release"
    fi
  done
  if [ -z "$best" ]; then
    echo "anymap needs a JDK $wanted or later, and found none in \$ANYMAP_JAVA_HOME, \$JAVA_HOME, on PATH, or in" \
      "/usr/lib/jvm, /opt/java, SDKMAN or /Library/Java. Install one (for example Temurin $wanted) or set" \
      "ANYMAP_JAVA_HOME to it." >&2
    return 1
  fi
  export JAVA_HOME="$best"
}
