"""Workflows: phases of member tasks, moved on in the transactions that write their ends.

- service.py: `WorkflowService`, what the server builds and the doors call;
- advance.py: the advance side: the first phase, the end and abort hooks, moving on (how
  and why it is safe: its module note);
- flow.py: one workflow execution as a hook holds it, loaded, noted and saved;
- members.py: a member's parameters and start request;
- ending.py: the workflow's end, judged by its checks, with its members' results;
- tree.py: the read side: an execution's tree and its phases as the API shows them;
- adhoc.py: phases given in the request (`run-phases`), run as a task that is not stored.
"""

from taskgate.core.workflows.service import WorkflowService

__all__ = ["WorkflowService"]
