#!/usr/bin/env bats
# docs: every relative link in README.md and docs/ leads somewhere: the file
# exists, and a #anchor names a heading of that page. Web links are not
# followed (the tests run offline).

load helper

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

# markdown_pages: README.md and every page under docs/, one per line.
markdown_pages() {
    echo "$ROOT/README.md"
    find "$ROOT/docs" -name '*.md' | sort
}

# link_targets FILE: the target of every link and image, [text](target),
# and of every reference definition, [label]: target; one per line. Fenced
# code blocks and `code spans` are left out: a link there is only text.
link_targets() {
    awk '
        /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
        fenced { next }
        { gsub(/`[^`]*`/, ""); print }
    ' "$1" >"$BATS_TEST_TMPDIR/prose"
    {
        grep -oE '\]\(<?[^) >]+>?( +"[^"]*")?\)' "$BATS_TEST_TMPDIR/prose" |
            sed -E 's/^\]\(<?([^) >]+).*$/\1/'
        grep -E '^ {0,3}\[[^]]+\]: +' "$BATS_TEST_TMPDIR/prose" |
            sed -E 's/^ {0,3}\[[^]]+\]: +<?([^ >]+).*$/\1/'
    } || true
}

# heading_anchors FILE: the anchor of every heading, as GitHub makes it:
# the text in lower case, punctuation dropped (but - and _), spaces to -,
# and -1, -2... on repeats. Punctuation is removed byte by byte only for
# ASCII, which never occurs inside a UTF-8 character; the common Chinese
# marks are removed whole (SC1112: those quotation marks are meant).
# shellcheck disable=SC1112
heading_anchors() {
    awk '
        /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
        !fenced && /^#+ / { sub(/^#+ +/, ""); sub(/ +#+ *$/, ""); print }
    ' "$1" |
        sed -E 's/\[([^]]*)\]\([^)]*\)/\1/g; s/(，|。|：|；|（|）|、|！|？|“|”|‘|’|《|》|「|」)//g' |
        LC_ALL=C tr '[:upper:]' '[:lower:]' |
        LC_ALL=C tr -d '!"#$%&()*+,./:;<=>?@[\\]^`{|}~'"'" |
        tr ' ' '-' |
        awk '{ n = seen[$0]++; print (n ? $0 "-" n : $0) }'
}

# broken_links FILE...: one line per link that leads nowhere, "FILE: TARGET:
# why"; LINKS_CHECKED counts the relative links looked at.
LINKS_CHECKED=0
broken_links() {
    local file target path anchor resolved
    for file in "$@"; do
        while IFS= read -r target; do
            # http:, https:, mailto: ... are not followed.
            [[ $target =~ ^[a-zA-Z][a-zA-Z0-9+.-]*: ]] && continue
            LINKS_CHECKED=$((LINKS_CHECKED + 1))
            path=${target%%#*}
            anchor=''
            [[ $target == *'#'* ]] && anchor=${target#*#}
            path=${path//%20/ }
            if [[ -z $path ]]; then
                resolved=$file
            elif [[ $path == /* ]]; then
                resolved="$ROOT$path"
            else
                resolved="$(dirname "$file")/$path"
            fi
            if [[ ! -e $resolved ]]; then
                echo "${file#"$ROOT"/}: $target: no such file"
            elif [[ -n $anchor && $resolved == *.md ]] &&
                ! heading_anchors "$resolved" | grep -qxF -- "$anchor"; then
                echo "${file#"$ROOT"/}: $target: no heading with that anchor"
            fi
        done < <(link_targets "$file")
    done
}

@test "docs: every relative link in README.md and docs/ names a file that exists" {
    local pages
    mapfile -t pages < <(markdown_pages)
    broken_links "${pages[@]}" >"$BATS_TEST_TMPDIR/broken"
    cat "$BATS_TEST_TMPDIR/broken"
    [ ! -s "$BATS_TEST_TMPDIR/broken" ]
    # The checker really looked: the README and the pages link to each other.
    echo "checked $LINKS_CHECKED relative links in ${#pages[@]} pages"
    ((LINKS_CHECKED >= 40))
}

@test "docs: the link checker catches a missing file and a wrong anchor, and skips web links and code" {
    mkdir -p "$BATS_TEST_TMPDIR/site/docs"
    local page="$BATS_TEST_TMPDIR/site/docs/page.md"
    touch "$BATS_TEST_TMPDIR/site/docs/there.md" "$BATS_TEST_TMPDIR/site/README.md"
    cat >"$page" <<'EOF'
# The page: a test (测试)

## Conventions
## Conventions

See [here](there.md), [up](../README.md), [a
link over two lines](there.md), ![a picture](missing.svg),
[gone](gone.md), [the web](https://example.com/nowhere.md),
[mail](mailto:someone@example.com), [self](#conventions), [again](#conventions-1),
[chinese](#the-page-a-test-测试), [wrong](#no-such-heading),
[titled](there.md "a title"), and `[code](not-a-link.md)`.

[defined]: gone-too.md

```
[fenced](also-not-a-link.md)
```
EOF
    run -0 broken_links "$page"
    [ "$output" = "$page: missing.svg: no such file
$page: gone.md: no such file
$page: #no-such-heading: no heading with that anchor
$page: gone-too.md: no such file" ]
}
