// `midotrace completion bash|zsh`: a completion script made from the program's own commands and
// options, so it cannot fall behind them. Nouns and COND words are completed after their verbs.
import type { Command } from 'commander';
import { COND_WORDS } from '../model/cond-words.js';

const NOUNS_OF: Record<string, string[]> = {
  list: ['trace-condition', 'trace'], show: ['trace-condition', 'trace', 'datapath'], add: ['trace-condition'],
  set: ['trace-condition'], enable: ['trace-condition'], disable: ['trace-condition'], del: ['trace-condition', 'trace'],
  diff: ['trace'], export: ['trace'], completion: ['bash', 'zsh'],
};

interface Spec { verbs: string[]; globals: string[]; options: Record<string, string[]> }

function spec(program: Command): Spec {
  const long = (c: Command): string[] => c.options.map((o) => o.long).filter((x): x is string => x !== undefined);
  const options: Record<string, string[]> = {};
  for (const c of program.commands) options[c.name()] = long(c);
  return { verbs: program.commands.map((c) => c.name()), globals: [...long(program), '--help'], options };
}

function bash(s: Spec): string {
  const cases = s.verbs.map((v) => `    ${v}) nouns="${(NOUNS_OF[v] ?? []).join(' ')}"; opts="${s.options[v]!.join(' ')} --help";;`).join('\n');
  return `# bash completion for midotrace: source it, or put it in /etc/bash_completion.d/midotrace
_midotrace() {
  local cur=\${COMP_WORDS[COMP_CWORD]} verb="" i nouns="" opts=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in -*) ;; *) verb=\${COMP_WORDS[i]}; break;; esac
  done
  if [[ -z $verb ]]; then
    COMPREPLY=($(compgen -W "${s.verbs.join(' ')} ${s.globals.join(' ')}" -- "$cur")); return
  fi
  case $verb in
${cases}
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi
  if (( COMP_CWORD == i + 1 )); then COMPREPLY=($(compgen -W "$nouns" -- "$cur")); return; fi
  if [[ ($verb == add || $verb == set) && \${COMP_WORDS[i+1]} == trace-condition ]]; then
    COMPREPLY=($(compgen -W "${COND_WORDS.join(' ')}" -- "$cur")); return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _midotrace midotrace
`;
}

function zsh(s: Spec): string {
  const cases = s.verbs.map((v) => `    ${v}) nouns=(${(NOUNS_OF[v] ?? []).join(' ')}); opts=(${s.options[v]!.join(' ')} --help);;`).join('\n');
  return `#compdef midotrace
# zsh completion for midotrace: put it in a directory of $fpath as _midotrace
_midotrace() {
  local -a verbs nouns opts
  verbs=(${s.verbs.join(' ')})
  local verb="" i
  for ((i = 2; i < CURRENT; i++)); do
    [[ \${words[i]} != -* ]] && { verb=\${words[i]}; break; }
  done
  if [[ -z $verb ]]; then compadd -- $verbs ${s.globals.join(' ')}; return; fi
  case $verb in
${cases}
  esac
  if [[ \${words[CURRENT]} == -* ]]; then compadd -- $opts; return; fi
  if (( CURRENT == i + 1 )); then compadd -- $nouns; return; fi
  if [[ ($verb == add || $verb == set) && \${words[i+1]} == trace-condition ]]; then compadd -- ${COND_WORDS.join(' ')}; return; fi
  _files
}
compdef _midotrace midotrace
`;
}

export function completionScript(program: Command, shell: string): string | null {
  if (shell === 'bash') return bash(spec(program));
  if (shell === 'zsh') return zsh(spec(program));
  return null;
}
