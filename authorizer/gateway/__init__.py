"""What API Gateway sends and gets back: authorizer events in, IAM policies and simple
responses out, and the route table that maps a request to a Cedar action."""
