# Pull-request plans (issue 9): keelson plan --base --head
