" Vim syntax file for FluentAI (.fl), a Lisp-family language.
" Install: copy to ~/.vim/syntax/fluentai.vim (Neovim: ~/.config/nvim/syntax/) and add
"   autocmd BufRead,BufNewFile *.fl setfiletype fluentai
" to your vimrc. Highlights what editors/fluentai.tmLanguage.json does: special forms,
" effect operations (io:print), keywords (:name), strings with escapes, numbers,
" true/false/nil/#t/#f and ; comments.

if exists("b:current_syntax")
  finish
endif

syntax iskeyword @,48-57,_,192-255,-,+,*,/,<,>,=,!,?,.,%,&,^,~,$,#

syntax keyword fluentaiSpecial define data lambda let let* letrec if cond when unless do begin
syntax keyword fluentaiSpecial and or quote effect handler match async go await select else
syntax keyword fluentaiConstant true false nil #t #f

syntax match fluentaiEffectOp "\v(^|[[:space:](\[{,'])@<=[A-Za-z][[:alnum:]_-]*:[^[:space:](){}\[\]",;']+"
syntax match fluentaiKeyword "\v(^|[[:space:](\[{,'])@<=:[^[:space:](){}\[\]",;']+"
syntax match fluentaiNumber "\v(^|[[:space:](\[{,'])@<=[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?([[:space:](){}\[\]",;']|$)@="
syntax match fluentaiDefined "\v(\(\s*(define|data)\s+\(?\s*)@<=[^[:space:](){}\[\]",;']+"

syntax match fluentaiEscape contained "\v\\([ntr0\\"]|u\{\x+\})"
syntax match fluentaiBadEscape contained "\v\\([ntr0\\"u])@!."
syntax region fluentaiString start=/"/ skip=/\\\\\|\\"/ end=/"/ contains=fluentaiEscape,fluentaiBadEscape

syntax match fluentaiComment ";.*$" contains=@Spell

highlight default link fluentaiSpecial Statement
highlight default link fluentaiConstant Constant
highlight default link fluentaiEffectOp Function
highlight default link fluentaiKeyword Identifier
highlight default link fluentaiNumber Number
highlight default link fluentaiDefined Function
highlight default link fluentaiString String
highlight default link fluentaiEscape SpecialChar
highlight default link fluentaiBadEscape Error
highlight default link fluentaiComment Comment

let b:current_syntax = "fluentai"
