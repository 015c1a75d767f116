# .bashrc of the ktbx desk (seeded once into ~/.ktbx/homefs; edit freely)
[ -f /etc/bash_completion ] && . /etc/bash_completion
export PS1='{\u@k8s-toolbox:\W}$ '
export PATH="/opt/bin:$PATH"
command -v helm >/dev/null && source <(helm completion bash)
command -v kubectl >/dev/null && source <(kubectl completion bash)
alias k=kubectl
complete -o default -F __start_kubectl k
[ -f /etc/kubectl_aliases ] && source /etc/kubectl_aliases
alias ll='ls -alF'
alias gst='git status'
alias gc='git commit'
alias gco='git checkout'
