# bash completion for pgoctl(1): options; HOST:SERVICE from the targets pgoctl remembers
# ($XDG_CONFIG_HOME/pgo/targets, those whose command succeeded); commands after "//".
# Nothing installs it: source it from ~/.bashrc, or copy it to
# /etc/bash_completion.d/pgoctl.

_pgoctl() {
    local line=${COMP_LINE:0:COMP_POINT} cur prev i
    local file=${XDG_CONFIG_HOME:-$HOME/.config}/pgo/targets
    local commands="up down ps pull build restart start stop logs ping status history sync
        diff freeze unfreeze rollback"
    local options="-i --identity -p --port --insecure --no-reuse --json -h --help --version"
    local -a words
    # the whole word under the cursor: bash's own words are split at ':' (COMP_WORDBREAKS)
    cur=${line##*[[:space:]]}
    read -ra words <<< "${line%"$cur"}"
    prev=${words[${#words[@]}-1]}
    COMPREPLY=()
    case $prev in
        -i|--identity) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -p|--port) return ;;
    esac
    case $cur in
        -*) COMPREPLY=($(compgen -W "$options" -- "$cur")) ;;
        *//*) COMPREPLY=($(compgen -P "${cur%%//*}//" -W "$commands" -- "${cur#*//}")) ;;
        *)
            if [[ -r $file ]]; then
                COMPREPLY=($(compgen -S "//" -W "$(< "$file")" -- "$cur"))
                compopt -o nospace 2> /dev/null
            fi ;;
    esac
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then  # bash replaces only after ':'
        local colon=${cur%"${cur##*:}"}
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
        done
    fi
}
complete -F _pgoctl pgoctl
